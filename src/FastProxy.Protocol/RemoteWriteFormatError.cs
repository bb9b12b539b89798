namespace FastProxy.Protocol;

/// <summary>What was wrong with a remote-write body that could not be read.</summary>
public enum RemoteWriteFormatError
{
    /// <summary>The body is not a snappy block (its length preamble or first element is impossible).</summary>
    NotSnappy = 1,

    /// <summary>The body uses the snappy framing (stream) format, which remote write forbids.</summary>
    FramedSnappy,

    /// <summary>The snappy block is damaged: a copy points before the start, the data ends early, or the length does not match.</summary>
    CorruptSnappy,

    /// <summary>The snappy preamble announces more bytes than the configured limit allows.</summary>
    DecompressedTooLarge,

    /// <summary>The data ends early: a snappy block short of its announced length, protobuf data that ends inside a field, or a length prefix that runs past the end of its message.</summary>
    Truncated,

    /// <summary>A varint is longer than ten bytes or does not fit the field's type.</summary>
    VarintOverflow,

    /// <summary>A field has a wire type that is invalid, or not the one its schema declares.</summary>
    InvalidWireType,

    /// <summary>A tag carries field number zero or one beyond the protobuf range.</summary>
    InvalidFieldNumber,

    /// <summary>The body is a protobuf message of another type (for example a 2.0 request read as 1.0).</summary>
    WrongMessageType,

    /// <summary>A 2.0 symbol reference points outside the symbols table, or a reference list has an odd length.</summary>
    InvalidReference,

    /// <summary>The 1.0 translation of a 2.0 request would exceed the size limit (2.0 shares strings that 1.0 repeats).</summary>
    TranslationTooLarge,
}
