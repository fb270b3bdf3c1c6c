// Minimal JSON for settings, tasks and status. The shim carries no managed dependency (nothing
// to conflict with the assemblies PowerShell or other modules load), and netstandard2.0 has no
// JSON API of its own, so this is the whole of it: objects, arrays, strings, numbers, literals.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Spmt
{
    /// <summary>Parses JSON into <see cref="Dictionary{TKey,TValue}"/> (keys case-insensitive, as
    /// the engine reads them), <see cref="List{T}"/>, string, long, double, bool and null; and
    /// writes those (plus DateTime, enums and any IDictionary/IEnumerable) back.</summary>
    public static class Json
    {
        public static object Parse(string text)
        {
            if (text == null) throw new ArgumentNullException(nameof(text));
            var p = new Parser(text);
            p.SkipWs();
            var v = p.Value(0);
            p.SkipWs();
            if (p.Pos != text.Length) throw p.Error("unexpected text after the value");
            return v;
        }

        /// <summary>Parses text that must be a JSON object.</summary>
        public static Dictionary<string, object> ParseObject(string text, string what)
        {
            object v;
            try { v = Parse(text); }
            catch (FormatException e) { throw new FormatException(what + " is not valid JSON: " + e.Message, e); }
            var o = v as Dictionary<string, object>;
            if (o == null) throw new FormatException(what + " must be a JSON object ({...})");
            return o;
        }

        public static string Serialize(object value)
        {
            var b = new StringBuilder();
            Write(b, value, 0);
            return b.ToString();
        }

        static void Write(StringBuilder b, object v, int depth)
        {
            if (depth > 64) throw new InvalidOperationException("JSON nested too deeply");
            if (v == null) { b.Append("null"); return; }
            var s = v as string;
            if (s != null) { Quote(b, s); return; }
            if (v is bool) { b.Append((bool)v ? "true" : "false"); return; }
            if (v is char) { Quote(b, v.ToString()); return; }
            if (v is DateTime)
            {
                // RFC 3339 in UTC: the engine reads it as an instant. A DateTime without a kind is
                // local time, as PowerShell's [datetime]"2020-01-31" is.
                var d = (DateTime)v;
                if (d.Kind != DateTimeKind.Utc) d = DateTime.SpecifyKind(d, DateTimeKind.Local).ToUniversalTime();
                Quote(b, d.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
                return;
            }
            if (v is Guid) { Quote(b, v.ToString()); return; }
            if (v is Enum) { Quote(b, v.ToString()); return; }
            if (v is float || v is double || v is decimal)
            {
                var d = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException("JSON has no NaN or infinity");
                b.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return;
            }
            if (v is IConvertible && IsInteger(v)) { b.Append(Convert.ToString(v, CultureInfo.InvariantCulture)); return; }
            var dict = v as IDictionary;
            if (dict != null)
            {
                b.Append('{');
                var first = true;
                foreach (DictionaryEntry e in dict)
                {
                    if (!first) b.Append(',');
                    first = false;
                    Quote(b, Convert.ToString(e.Key, CultureInfo.InvariantCulture));
                    b.Append(':');
                    Write(b, e.Value, depth + 1);
                }
                b.Append('}');
                return;
            }
            var list = v as IEnumerable;
            if (list != null)
            {
                b.Append('[');
                var first = true;
                foreach (var x in list)
                {
                    if (!first) b.Append(',');
                    first = false;
                    Write(b, x, depth + 1);
                }
                b.Append(']');
                return;
            }
            Quote(b, Convert.ToString(v, CultureInfo.InvariantCulture));
        }

        static bool IsInteger(object v)
        {
            return v is int || v is long || v is short || v is sbyte || v is byte || v is ushort || v is uint || v is ulong;
        }

        static void Quote(StringBuilder b, string s)
        {
            b.Append('"');
            foreach (var c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < ' ') b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else b.Append(c);
                        break;
                }
            }
            b.Append('"');
        }

        sealed class Parser
        {
            readonly string t;
            public int Pos;
            public Parser(string text) { t = text; }

            public FormatException Error(string what)
            {
                return new FormatException(what + " at offset " + Pos.ToString(CultureInfo.InvariantCulture));
            }

            public void SkipWs()
            {
                while (Pos < t.Length && (t[Pos] == ' ' || t[Pos] == '\t' || t[Pos] == '\n' || t[Pos] == '\r')) Pos++;
            }

            public object Value(int depth)
            {
                if (depth > 128) throw Error("nested too deeply");
                if (Pos >= t.Length) throw Error("unexpected end");
                var c = t[Pos];
                if (c == '{') return Obj(depth);
                if (c == '[') return Arr(depth);
                if (c == '"') return Str();
                if (c == '-' || (c >= '0' && c <= '9')) return Num();
                if (Lit("true")) return true;
                if (Lit("false")) return false;
                if (Lit("null")) return null;
                throw Error("unexpected character '" + c + "'");
            }

            bool Lit(string w)
            {
                if (string.CompareOrdinal(t, Pos, w, 0, w.Length) != 0) return false;
                Pos += w.Length;
                return true;
            }

            Dictionary<string, object> Obj(int depth)
            {
                var o = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
                Pos++;
                SkipWs();
                if (Pos < t.Length && t[Pos] == '}') { Pos++; return o; }
                while (true)
                {
                    SkipWs();
                    if (Pos >= t.Length || t[Pos] != '"') throw Error("expected a property name");
                    var k = Str();
                    SkipWs();
                    if (Pos >= t.Length || t[Pos] != ':') throw Error("expected ':'");
                    Pos++;
                    SkipWs();
                    o[k] = Value(depth + 1);
                    SkipWs();
                    if (Pos < t.Length && t[Pos] == ',') { Pos++; continue; }
                    if (Pos < t.Length && t[Pos] == '}') { Pos++; return o; }
                    throw Error("expected ',' or '}'");
                }
            }

            List<object> Arr(int depth)
            {
                var a = new List<object>();
                Pos++;
                SkipWs();
                if (Pos < t.Length && t[Pos] == ']') { Pos++; return a; }
                while (true)
                {
                    SkipWs();
                    a.Add(Value(depth + 1));
                    SkipWs();
                    if (Pos < t.Length && t[Pos] == ',') { Pos++; continue; }
                    if (Pos < t.Length && t[Pos] == ']') { Pos++; return a; }
                    throw Error("expected ',' or ']'");
                }
            }

            string Str()
            {
                var b = new StringBuilder();
                Pos++;
                while (true)
                {
                    if (Pos >= t.Length) throw Error("unterminated string");
                    var c = t[Pos++];
                    if (c == '"') return b.ToString();
                    if (c == '\\')
                    {
                        if (Pos >= t.Length) throw Error("unterminated escape");
                        var e = t[Pos++];
                        switch (e)
                        {
                            case '"': b.Append('"'); break;
                            case '\\': b.Append('\\'); break;
                            case '/': b.Append('/'); break;
                            case 'b': b.Append('\b'); break;
                            case 'f': b.Append('\f'); break;
                            case 'n': b.Append('\n'); break;
                            case 'r': b.Append('\r'); break;
                            case 't': b.Append('\t'); break;
                            case 'u':
                                if (Pos + 4 > t.Length) throw Error("short \\u escape");
                                int code;
                                if (!int.TryParse(t.Substring(Pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out code))
                                    throw Error("bad \\u escape");
                                b.Append((char)code);
                                Pos += 4;
                                break;
                            default: throw Error("bad escape '\\" + e + "'");
                        }
                    }
                    else if (c < ' ') throw Error("control character in a string");
                    else b.Append(c);
                }
            }

            object Num()
            {
                var start = Pos;
                if (t[Pos] == '-') Pos++;
                while (Pos < t.Length && "0123456789.eE+-".IndexOf(t[Pos]) >= 0) Pos++;
                var s = t.Substring(start, Pos - start);
                long l;
                if (s.IndexOfAny(new[] { '.', 'e', 'E' }) < 0 && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                double d;
                if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
                throw Error("bad number '" + s + "'");
            }
        }

        // Readers for parsed objects: absent or null gives the default.

        public static string Str(IDictionary<string, object> o, string key)
        {
            object v;
            if (o == null || !o.TryGetValue(key, out v) || v == null) return null;
            return v as string ?? Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        public static long Long(IDictionary<string, object> o, string key)
        {
            object v;
            if (o == null || !o.TryGetValue(key, out v) || v == null) return 0;
            if (v is long) return (long)v;
            if (v is double) return (long)(double)v;
            long l;
            return long.TryParse(Convert.ToString(v, CultureInfo.InvariantCulture), NumberStyles.Integer, CultureInfo.InvariantCulture, out l) ? l : 0;
        }

        public static DateTime? Date(IDictionary<string, object> o, string key)
        {
            var s = Str(o, key);
            DateTime d;
            if (string.IsNullOrEmpty(s)) return null;
            if (DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out d)) return d;
            return null;
        }
    }
}
