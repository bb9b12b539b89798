namespace FastProxy.Protocol.Tests;

/// <summary>Writes protobuf wire bytes by hand, so tests can build messages no encoder would produce.</summary>
internal sealed class RawProto
{
    private readonly List<byte> _bytes = [];

    public RawProto Tag(int field, int wireType) => Varint(((ulong)field << 3) | (uint)wireType);

    public RawProto Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        _bytes.Add((byte)value);
        return this;
    }

    public RawProto Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public RawProto VarintField(int field, ulong value) => Tag(field, 0).Varint(value);

    public RawProto Fixed64Field(int field, double value) =>
        Tag(field, 1).Raw(BitConverter.GetBytes(value));

    public RawProto Bytes(int field, byte[] payload) => Tag(field, 2).Varint((ulong)payload.Length).Raw(payload);

    public RawProto String(int field, string value) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(value));

    public RawProto Message(int field, RawProto inner) => Bytes(field, inner.ToArray());

    public byte[] ToArray() => [.. _bytes];

    /// <summary>A 1.0 Label message.</summary>
    public static RawProto Label(string name, string value) => new RawProto().String(1, name).String(2, value);

    /// <summary>A 1.0 or 2.0 Sample message.</summary>
    public static RawProto Sample(double value, long timestamp) =>
        new RawProto().Fixed64Field(1, value).VarintField(2, (ulong)timestamp);
}
