using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace CircuitDsl.Generators.Parsing;

/// <summary>
/// A small JSON reader for config.json inside the compiler (System.Text.Json is not available to netstandard2.0
/// analyzers without shipping it). Objects become dictionaries, arrays lists, numbers doubles.
/// </summary>
internal static class MiniJson
{
    public static object? Parse(string text)
    {
        int i = 0;
        var value = Value(text, ref i);
        Skip(text, ref i);
        if (i != text.Length) throw new FormatException($"unexpected '{text[i]}' at offset {i}");
        return value;
    }

    private static object? Value(string s, ref int i)
    {
        Skip(s, ref i);
        if (i >= s.Length) throw new FormatException("unexpected end of JSON");
        char c = s[i];
        if (c == '{')
        {
            var result = new Dictionary<string, object?>(StringComparer.Ordinal);
            i++;
            Skip(s, ref i);
            if (Peek(s, i) == '}') { i++; return result; }
            while (true)
            {
                Skip(s, ref i);
                string key = String(s, ref i);
                Skip(s, ref i);
                Expect(s, ref i, ':');
                result[key] = Value(s, ref i);
                Skip(s, ref i);
                if (Peek(s, i) == ',') { i++; continue; }
                Expect(s, ref i, '}');
                return result;
            }
        }
        if (c == '[')
        {
            var list = new List<object?>();
            i++;
            Skip(s, ref i);
            if (Peek(s, i) == ']') { i++; return list; }
            while (true)
            {
                list.Add(Value(s, ref i));
                Skip(s, ref i);
                if (Peek(s, i) == ',') { i++; continue; }
                Expect(s, ref i, ']');
                return list;
            }
        }
        if (c == '"') return String(s, ref i);
        if (Match(s, ref i, "true")) return true;
        if (Match(s, ref i, "false")) return false;
        if (Match(s, ref i, "null")) return null;
        int start = i;
        while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
        if (start == i) throw new FormatException($"unexpected '{c}' at offset {i}");
        return double.Parse(s.Substring(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    private static string String(string s, ref int i)
    {
        Expect(s, ref i, '"');
        var sb = new StringBuilder();
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                char e = s[++i];
                if (e == 'u' && i + 4 < s.Length)
                {
                    sb.Append((char)int.Parse(s.Substring(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                }
                else sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', _ => e });
            }
            else sb.Append(s[i]);
            i++;
        }
        Expect(s, ref i, '"');
        return sb.ToString();
    }

    private static void Skip(string s, ref int i)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
    }

    private static char Peek(string s, int i) => i < s.Length ? s[i] : '\0';

    private static void Expect(string s, ref int i, char c)
    {
        if (Peek(s, i) != c) throw new FormatException($"expected '{c}' at offset {i}");
        i++;
    }

    private static bool Match(string s, ref int i, string word)
    {
        if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
        i += word.Length;
        return true;
    }
}
