using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace FastProxy.Configuration;

/// <summary>
/// Turns a YAML routes file into the JSON that <see cref="RoutesFile.Parse"/> validates, so both
/// forms share one set of rules and one set of messages. YamlDotNet's event parser does the YAML
/// (no reflection, so native AOT is fine); this class only maps its events onto JSON.
/// </summary>
/// <remarks>
/// Plain scalars follow YAML 1.2's core schema for what the routes file can hold: <c>true</c>/<c>false</c>
/// are booleans, <c>null</c>, <c>~</c> and nothing are null, everything else is a string — a
/// route named <c>2024</c> stays a name, and a target written without quotes stays a target.
/// Quoted scalars are always strings. Aliases, tags and several documents are refused: a routes
/// file is a handful of lines, and each of them would make it harder to read what FastProxy reads.
/// </remarks>
internal static class YamlRoutes
{
    /// <summary>True when the file's name says YAML (<c>.yaml</c>, <c>.yml</c>, any case).</summary>
    public static bool IsYamlPath(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    /// <summary>The document as JSON, or null after reporting one line to <paramref name="error"/>.</summary>
    public static byte[]? ToJson(ReadOnlySpan<byte> yaml, string origin, Action<string> error)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(yaml);
        }
        catch (DecoderFallbackException)
        {
            error($"'{origin}' is not UTF-8 text; save the routes file as UTF-8");
            return null;
        }

        var output = new ArrayBufferWriter<byte>(Math.Max(256, yaml.Length));
        var parser = new Parser(new StringReader(text));
        try
        {
            using (var writer = new Utf8JsonWriter(output))
            {
                parser.Consume<StreamStart>();
                if (parser.Accept<StreamEnd>(out _))
                {
                    error($"'{origin}' is empty; it must hold \"routes:\" with a list of routes");
                    return null;
                }

                parser.Consume<DocumentStart>();
                if (!WriteNode(parser, writer, origin, error, depth: 0))
                {
                    return null;
                }

                parser.Consume<DocumentEnd>();
                if (parser.Accept<DocumentStart>(out var second))
                {
                    error($"'{origin}' holds more than one YAML document (a second starts at {Where(second.Start)}); keep one");
                    return null;
                }
            }

            return output.WrittenSpan.ToArray();
        }
        catch (YamlException ex)
        {
            error($"'{origin}' is not valid YAML at {Where(ex.Start)}: {Reason(ex)} Check the indentation and quoting there.");
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // YamlDotNet's scanner throws these on some broken input instead of a YamlException
            // (found by RoutesFileTests.MangledYaml_…); the last event it read tells roughly where.
            var where = parser.Current is { } last ? $" after {Where(last.End)}" : "";
            error($"'{origin}' is not valid YAML: the parser stopped{where}. Check the indentation and quoting there.");
            return null;
        }
    }

    /// <summary>Deeper than any routes file (3 levels) and well within the JSON writer's limit of 64.</summary>
    private const int MaxDepth = 16;

    private static bool WriteNode(IParser parser, Utf8JsonWriter writer, string origin, Action<string> error, int depth)
    {
        var current = parser.Current!;
        if (depth > MaxDepth)
        {
            error($"'{origin}' nests lists and mappings more than {MaxDepth} deep at {Where(current.Start)}; a routes file needs three levels");
            return false;
        }

        if (current is NodeEvent { Tag.IsEmpty: false } tagged)
        {
            error($"'{origin}' uses the tag '{tagged.Tag}' at {Where(current.Start)}; a routes file needs no tags, remove it");
            return false;
        }

        switch (current)
        {
            case AnchorAlias alias:
                error($"'{origin}' uses the alias '*{alias.Value}' at {Where(alias.Start)}; write the value out instead");
                return false;

            case Scalar scalar:
                parser.MoveNext();
                WriteScalar(scalar, writer);
                return true;

            case SequenceStart:
                parser.MoveNext();
                writer.WriteStartArray();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    if (!WriteNode(parser, writer, origin, error, depth + 1))
                    {
                        return false;
                    }
                }

                writer.WriteEndArray();
                return true;

            case MappingStart:
                parser.MoveNext();
                writer.WriteStartObject();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    if (parser.Current is not Scalar key)
                    {
                        error($"'{origin}' has a key at {Where(parser.Current!.Start)} that is not a plain name; keys are field names such as \"target\"");
                        return false;
                    }

                    parser.MoveNext();
                    writer.WritePropertyName(key.Value);
                    if (!WriteNode(parser, writer, origin, error, depth + 1))
                    {
                        return false;
                    }
                }

                writer.WriteEndObject();
                return true;

            default:
                error($"'{origin}' has an unexpected {current.GetType().Name} at {Where(current.Start)}");
                return false;
        }
    }

    private static void WriteScalar(Scalar scalar, Utf8JsonWriter writer)
    {
        if (scalar.Style != ScalarStyle.Plain)
        {
            writer.WriteStringValue(scalar.Value);
            return;
        }

        switch (scalar.Value)
        {
            case "true" or "True" or "TRUE":
                writer.WriteBooleanValue(true);
                break;
            case "false" or "False" or "FALSE":
                writer.WriteBooleanValue(false);
                break;
            case "" or "~" or "null" or "Null" or "NULL":
                writer.WriteNullValue();
                break;
            default:
                writer.WriteStringValue(scalar.Value);
                break;
        }
    }

    private static string Where(in Mark mark) =>
        string.Create(CultureInfo.InvariantCulture, $"line {mark.Line}, column {mark.Column}");

    /// <summary>YamlDotNet's message without the position prefix it adds (the message already says where).</summary>
    private static string Reason(YamlException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 && message.StartsWith('(') ? message[(cut + 3)..] : message;
    }
}
