using System.Globalization;
using System.Text;

namespace StreamLanes.Sinks;

/// <summary>
/// Makes a string that came from a stream (a partition key, a shard id, an attribute, a dead-letter id, a handler's
/// exception message) safe to write into a log line or a terminal: control characters (CR, LF, ESC, …), C1 controls,
/// lone surrogates, bidirectional overrides and line separators become <c>\uXXXX</c>, a backslash becomes <c>\\</c> (so
/// an escape in the output is never ambiguous), and a long value is cut with <c>…(N chars)</c>.
/// </summary>
/// <remarks>
/// Only for display. The raw value stays exact wherever it is data (the envelope, the JSON output, the sinks).
/// The engine, the sinks and the command-line tool (through InternalsVisibleTo) use this one helper.
/// </remarks>
internal static class SafeText
{
    /// <summary>The default cap, in characters of the original value, before the <c>…(N chars)</c> suffix.</summary>
    public const int DefaultMaxLength = 128;

    /// <summary>Escapes and caps <paramref name="value"/>; returns it unchanged (no allocation) when nothing needs doing.</summary>
    /// <param name="value">The untrusted text; <see langword="null"/> gives an empty string.</param>
    /// <param name="maxLength">How many characters of the original are kept before the suffix. Default 128.</param>
    /// <returns>Text with no control characters, lone surrogates or bidi controls, at most about 6 × <paramref name="maxLength"/> characters long.</returns>
    public static string Escape(string? value, int maxLength = DefaultMaxLength)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (value.Length <= maxLength && IsClean(value))
        {
            return value;
        }

        int kept = Math.Min(value.Length, maxLength);

        // Never cut a surrogate pair in two: the cut itself would make a lone surrogate.
        if (kept < value.Length && kept > 0 && char.IsHighSurrogate(value[kept - 1]) && char.IsLowSurrogate(value[kept]))
        {
            kept--;
        }

        var text = new StringBuilder(kept + 16);
        for (int i = 0; i < kept; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]) && i + 1 < kept)
            {
                text.Append(c).Append(value[i + 1]);
                i++;
            }
            else if (c == '\\')
            {
                text.Append(@"\\");
            }
            else if (NeedsEscape(c))
            {
                text.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        if (kept < value.Length)
        {
            text.Append("…(").Append(value.Length.ToString(CultureInfo.InvariantCulture)).Append(" chars)");
        }

        return text.ToString();
    }

    /// <summary>
    /// An exception to hand to a logger in place of one whose message may carry stream data (a handler that put the
    /// key in its message): same stack trace, the original type named in its text, the message (and the inner
    /// exceptions' messages) escaped and capped.
    /// </summary>
    /// <param name="exception">The original exception.</param>
    /// <returns>The exception itself when its messages are clean and short, else a <see cref="LoggedException"/>.</returns>
    public static Exception ForLog(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e.Message.Length > MessageMaxLength || !IsClean(e.Message) || e is AggregateException { InnerExceptions.Count: > 1 })
            {
                return new LoggedException(exception);
            }
        }

        return exception;
    }

    /// <summary>The cap of an exception message in a log line: long enough for a useful message, short enough to stop a flood.</summary>
    internal const int MessageMaxLength = 1024;

    private static bool IsClean(string value)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
                continue;
            }

            if (c == '\\' || NeedsEscape(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool NeedsEscape(char c) => c switch
    {
        < ' ' or '\u007F' => true,                    // C0 controls (CR, LF, TAB, ESC, NUL, …) and DEL
        >= '\u0080' and <= '\u009F' => true,          // C1 controls (CSI 0x9B starts a terminal escape too)
        '\u061C' or '\u200E' or '\u200F' => true,     // bidi marks
        >= '\u202A' and <= '\u202E' => true,          // bidi embeddings and overrides
        >= '\u2066' and <= '\u2069' => true,          // bidi isolates
        '\u2028' or '\u2029' => true,                 // line and paragraph separators
        >= '\uD800' and <= '\uDFFF' => true,          // a surrogate reaching here is a lone one
        _ => false,
    };

    /// <summary>What <see cref="ForLog"/> hands the logger: the original exception, rendered with escaped messages.</summary>
    internal sealed class LoggedException : Exception
    {
        private readonly Exception _original;

        public LoggedException(Exception original)
            : base(Escape(original.Message, MessageMaxLength))
        {
            _original = original;
        }

        public LoggedException()
            : this(new InvalidOperationException())
        {
        }

        public LoggedException(string message)
            : this(new InvalidOperationException(message))
        {
        }

        public LoggedException(string message, Exception innerException)
            : this(new InvalidOperationException(message, innerException))
        {
        }

        /// <summary>The original exception's type, for readers of the log.</summary>
        public Type OriginalType => _original.GetType();

        public override string? StackTrace => _original.StackTrace;

        public override string ToString()
        {
            var text = new StringBuilder();
            Append(text, _original, depth: 0);
            return text.ToString();
        }

        private static void Append(StringBuilder text, Exception exception, int depth)
        {
            text.Append(exception.GetType().FullName).Append(": ").Append(Escape(exception.Message, MessageMaxLength));
            IEnumerable<Exception> inner = exception is AggregateException aggregate ? aggregate.InnerExceptions : exception.InnerException is null ? [] : [exception.InnerException];
            foreach (Exception e in inner)
            {
                if (depth >= 8)
                {
                    text.Append(" ---> …");
                    break;
                }

                text.Append(" ---> ");
                Append(text, e, depth + 1);
                text.AppendLine().Append("   --- End of inner exception stack trace ---");
            }

            // Stack frames name code (methods, files), never stream data: kept as they are.
            if (exception.StackTrace is string stack)
            {
                text.AppendLine().Append(stack);
            }
        }
    }
}
