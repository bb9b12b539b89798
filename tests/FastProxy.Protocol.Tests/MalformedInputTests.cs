using Google.Protobuf;

namespace FastProxy.Protocol.Tests;

/// <summary>
/// Damaged bodies must fail with <see cref="RemoteWriteFormatException"/> and nothing else: no
/// IndexOutOfRange, no OutOfMemory, no stack overflow, no Google.Protobuf exception.
/// </summary>
public sealed class MalformedInputTests
{
    private const int BitFlipsPerInput = 1500;

    [Fact]
    public void EveryTruncationOfSnappyBody_FailsWithFormatError()
    {
        var body = Fixtures.Read("batch-12826.snappy");
        var options = new PayloadSummaryOptions { Compression = PayloadCompression.Snappy };

        for (var length = 0; length < body.Length; length++)
        {
            var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.Summarize(body.AsSpan(0, length), options));
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
        }
    }

    [Fact]
    public void EveryTruncationOfSnappyBody_AutoDetected_SucceedsOrFailsWithFormatError()
    {
        var body = Fixtures.Read("batch-9402.snappy");

        for (var length = 0; length < body.Length; length++)
        {
            SummarizeOrFormatError(body.AsSpan(0, length).ToArray(), PayloadSummaryOptions.Default);
        }
    }

    [Fact]
    public void EveryTruncationOfProtobuf_SucceedsOrFailsWithFormatError()
    {
        // A cut at a field boundary is a valid, shorter message; any other cut must be reported.
        var message = Fixtures.ReadUncompressed("batch-9402.snappy");
        var options = new PayloadSummaryOptions { Compression = PayloadCompression.None, Version = RemoteWriteVersion.V1 };
        var failures = 0;

        for (var length = 0; length < message.Length; length++)
        {
            failures += SummarizeOrFormatError(message.AsSpan(0, length).ToArray(), options) ? 0 : 1;
        }

        Assert.True(failures > message.Length / 2, $"only {failures} of {message.Length} truncations failed");
    }

    [Fact]
    public void TruncationsOfSeriesProtobuf_SucceedOrFailWithFormatError()
    {
        // Every cut through the first series (all of their field kinds), then a prime stride
        // through the rest: every cut of 70 KB costs minutes for no new field kinds.
        var message = Fixtures.ReadUncompressed("batch-12826.snappy");
        var options = new PayloadSummaryOptions { Compression = PayloadCompression.None, Version = RemoteWriteVersion.V1 };

        for (var length = 0; length < message.Length; length += length < 4096 ? 1 : 251)
        {
            SummarizeOrFormatError(message.AsSpan(0, length).ToArray(), options);
        }
    }

    [Fact]
    public void EveryTruncationOfV2Protobuf_SucceedsOrFailsWithFormatError()
    {
        var message = TestMessages.V2Request().ToByteArray();

        for (var length = 0; length < message.Length; length++)
        {
            var prefix = message.AsSpan(0, length).ToArray();
            SummarizeOrFormatError(prefix, PayloadSummaryOptions.Default);
            ConvertOrFormatError(prefix);
        }
    }

    [Theory]
    [InlineData("batch-12826.snappy", 1)]
    [InlineData("batch-9413.snappy", 2)]
    public void RandomBitFlipsInSnappyBody_SucceedOrFailWithFormatError(string name, int seed)
    {
        var body = Fixtures.Read(name);
        var random = new Random(seed);

        for (var i = 0; i < BitFlipsPerInput; i++)
        {
            SummarizeOrFormatError(Flip(body, random), PayloadSummaryOptions.Default);
        }
    }

    [Theory]
    [InlineData("batch-12826.snappy", 3)]
    [InlineData("batch-9402.snappy", 4)]
    public void RandomBitFlipsInProtobuf_SucceedOrFailWithFormatError(string name, int seed)
    {
        var message = Fixtures.ReadUncompressed(name);
        var random = new Random(seed);

        for (var i = 0; i < BitFlipsPerInput; i++)
        {
            var flipped = Flip(message, random);
            SummarizeOrFormatError(flipped, PayloadSummaryOptions.Default);

            // The generated parser materialises every series; a tenth of the inputs is plenty.
            if (i % 10 == 0)
            {
                ParseV1OrFormatError(flipped);
            }
        }
    }

    [Fact]
    public void RandomBitFlipsInV2Protobuf_SucceedOrFailWithFormatError()
    {
        var message = TestMessages.V2Request().ToByteArray();
        var random = new Random(5);

        for (var i = 0; i < BitFlipsPerInput; i++)
        {
            var flipped = Flip(message, random);
            SummarizeOrFormatError(flipped, PayloadSummaryOptions.Default);
            SummarizeOrFormatError(flipped, new PayloadSummaryOptions { Version = RemoteWriteVersion.V2 });
            ConvertOrFormatError(flipped);
        }
    }

    [Fact]
    public void RandomBytes_SucceedOrFailWithFormatError()
    {
        var random = new Random(6);
        for (var i = 0; i < 3000; i++)
        {
            var data = new byte[random.Next(0, 200)];
            random.NextBytes(data);
            SummarizeOrFormatError(data, PayloadSummaryOptions.Default);
            ParseV1OrFormatError(data);
            ConvertOrFormatError(data);
        }
    }

    public static TheoryData<string, byte[], RemoteWriteFormatError, string> CraftedCases => new()
    {
        {
            "varint longer than ten bytes",
            new RawProto().Tag(1, 2).Raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).ToArray(),
            RemoteWriteFormatError.VarintOverflow,
            "prometheus.WriteRequest.timeseries"
        },
        {
            "length beyond the buffer",
            new RawProto().Tag(1, 2).Varint(5).Raw(0x01).ToArray(),
            RemoteWriteFormatError.Truncated,
            "prometheus.WriteRequest.timeseries"
        },
        {
            "huge length",
            new RawProto().Tag(1, 2).Varint(ulong.MaxValue).ToArray(),
            RemoteWriteFormatError.Truncated,
            "prometheus.WriteRequest.timeseries"
        },
        {
            "known field with the wrong wire type",
            new RawProto().VarintField(1, 7).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.WriteRequest.timeseries"
        },
        {
            "sample timestamp sent as bytes",
            new RawProto().Message(1, new RawProto().Message(2, new RawProto().Bytes(2, [1]))).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.Sample.timestamp in timeseries[0]"
        },
        {
            "sample value cut off",
            new RawProto().Message(1, new RawProto().Message(2, new RawProto().Tag(1, 1).Raw(1, 2, 3))).ToArray(),
            RemoteWriteFormatError.Truncated,
            "prometheus.Sample.value"
        },
        {
            "label name as varint",
            new RawProto().Message(1, new RawProto().Message(1, new RawProto().VarintField(1, 3))).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.Label.name"
        },
        {
            "histogram sum as varint",
            new RawProto().Message(1, new RawProto().Message(4, new RawProto().VarintField(3, 3))).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.Histogram.sum"
        },
        {
            "packed histogram counts of odd length",
            new RawProto().Message(1, new RawProto().Message(4, new RawProto().Bytes(13, [1, 2, 3]))).ToArray(),
            RemoteWriteFormatError.Truncated,
            "prometheus.Histogram.positive_counts"
        },
        {
            "field number zero",
            new byte[] { 0x00, 0x01 },
            RemoteWriteFormatError.InvalidFieldNumber,
            "prometheus.WriteRequest"
        },
        {
            "group wire type",
            new RawProto().Tag(1, 3).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.WriteRequest"
        },
        {
            "wire type 7",
            new RawProto().Tag(9, 7).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "prometheus.WriteRequest"
        },
        {
            "2.0 body read as 1.0",
            new RawProto().String(4, "").Message(5, new RawProto()).ToArray(),
            RemoteWriteFormatError.WrongMessageType,
            "prometheus.WriteRequest"
        },
    };

    [Theory]
    [MemberData(nameof(CraftedCases))]
    public void CraftedV1Body_FailsNamingTheField(string scenario, byte[] message, RemoteWriteFormatError expected, string field)
    {
        var error = Assert.Throws<RemoteWriteFormatException>(
            () => PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V1));

        Assert.True(expected == error.Error, $"{scenario}: {error.Message}");
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, byte[], RemoteWriteFormatError, string> CraftedV2Cases => new()
    {
        {
            "label reference outside the symbols table",
            new RawProto().String(4, "").String(4, "a").Message(5, new RawProto().Bytes(1, [1, 2])).ToArray(),
            RemoteWriteFormatError.InvalidReference,
            "io.prometheus.write.v2.TimeSeries.labels_refs in timeseries[0]"
        },
        {
            "odd number of label references",
            new RawProto().String(4, "").String(4, "a").Message(5, new RawProto().Bytes(1, [1])).ToArray(),
            RemoteWriteFormatError.InvalidReference,
            "io.prometheus.write.v2.TimeSeries.labels_refs"
        },
        {
            "help reference outside the symbols table",
            new RawProto().String(4, "").Message(5, new RawProto().Message(5, new RawProto().VarintField(3, 9))).ToArray(),
            RemoteWriteFormatError.InvalidReference,
            "io.prometheus.write.v2.Metadata.help_ref"
        },
        {
            "symbol as varint",
            new RawProto().VarintField(4, 1).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "io.prometheus.write.v2.Request.symbols"
        },
        {
            "start timestamp as fixed64",
            new RawProto().String(4, "").Message(5, new RawProto().Message(2, new RawProto().Fixed64Field(3, 1))).ToArray(),
            RemoteWriteFormatError.InvalidWireType,
            "io.prometheus.write.v2.Sample.start_timestamp"
        },
        {
            "packed label references cut inside a varint",
            new RawProto().String(4, "").Message(5, new RawProto().Bytes(1, [0x80])).ToArray(),
            RemoteWriteFormatError.Truncated,
            "io.prometheus.write.v2.TimeSeries.labels_refs"
        },
        {
            "1.0 body read as 2.0",
            new RawProto().Message(1, new RawProto()).ToArray(),
            RemoteWriteFormatError.WrongMessageType,
            "io.prometheus.write.v2.Request"
        },
    };

    [Theory]
    [MemberData(nameof(CraftedV2Cases))]
    public void CraftedV2Body_FailsNamingTheField(string scenario, byte[] message, RemoteWriteFormatError expected, string field)
    {
        var error = Assert.Throws<RemoteWriteFormatException>(
            () => PayloadSummaryReader.SummarizeProtobuf(message, RemoteWriteVersion.V2));

        Assert.True(expected == error.Error, $"{scenario}: {error.Message}");
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorInLaterSeries_NamesSeriesIndexAndOffset()
    {
        var good = new RawProto().Message(1, RawProto.Label("__name__", "up")).Message(2, RawProto.Sample(1, 1));
        var bad = new RawProto().Message(2, new RawProto().Bytes(2, [1]));
        var message = new RawProto().Message(1, good).Message(1, good).Message(1, bad).ToArray();

        var error = Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.SummarizeProtobuf(message));

        Assert.Equal(2, error.SeriesIndex);
        Assert.Equal("prometheus.Sample.timestamp", error.Field);
        Assert.NotNull(error.Offset);
        Assert.InRange(error.Offset!.Value, 0, message.Length);
        Assert.Contains("timeseries[2]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeeplyNestedGroups_FailWithoutStackOverflow()
    {
        // 100 000 nested start-group tags inside an unknown TimeSeries field: a recursive skipper
        // would run out of stack; Google.Protobuf stops at its recursion limit.
        var nested = new RawProto();
        for (var i = 0; i < 100_000; i++)
        {
            nested.Tag(9, 3);
        }

        var message = new RawProto().Message(1, nested).ToArray();

        Assert.Throws<RemoteWriteFormatException>(() => PayloadSummaryReader.SummarizeProtobuf(message));
        Assert.Throws<RemoteWriteFormatException>(() => RemoteWriteMessages.ParseV1(message));
    }

    [Fact]
    public void DeeplyNestedLengths_FailWithoutStackOverflow()
    {
        // Each level claims the rest of the body as a TimeSeries; only three levels have a schema.
        var inner = Array.Empty<byte>();
        for (var i = 0; i < 2_000; i++)
        {
            inner = new RawProto().Bytes(1, inner).ToArray();
        }

        SummarizeOrFormatError(inner, PayloadSummaryOptions.Default);
        ParseV1OrFormatError(inner);
    }

    private static byte[] Flip(byte[] source, Random random)
    {
        var copy = (byte[])source.Clone();
        var flips = random.Next(1, 4);
        for (var i = 0; i < flips; i++)
        {
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        }

        return copy;
    }

    private static bool SummarizeOrFormatError(byte[] data, PayloadSummaryOptions options)
    {
        try
        {
            PayloadSummaryReader.Summarize(data, options);
            return true;
        }
        catch (RemoteWriteFormatException ex)
        {
            Assert.False(string.IsNullOrWhiteSpace(ex.Message));
            Assert.NotNull(ex.Error);
            return false;
        }
    }

    private static void ParseV1OrFormatError(byte[] data)
    {
        try
        {
            RemoteWriteMessages.ParseV1(data);
        }
        catch (RemoteWriteFormatException)
        {
        }
    }

    private static void ConvertOrFormatError(byte[] data)
    {
        try
        {
            RemoteWriteConverter.ConvertV2ToV1(data);
        }
        catch (RemoteWriteFormatException)
        {
        }
    }
}
