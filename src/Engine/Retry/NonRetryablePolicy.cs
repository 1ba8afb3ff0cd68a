namespace StreamLanes;

/// <summary>Decides which handler exceptions cannot succeed on retry and go straight to the dead letters.</summary>
internal sealed class NonRetryablePolicy
{
    private readonly Type[] _types;
    private readonly Func<Exception, bool>[] _predicates;

    public NonRetryablePolicy(IEnumerable<Type> types, IEnumerable<Func<Exception, bool>> predicates)
    {
        _types = [.. types];
        _predicates = [.. predicates];
    }

    public bool IsNonRetryable(Exception exception)
    {
        if (exception is NonRetryableException)
        {
            return true;
        }

        foreach (Type type in _types)
        {
            if (type.IsInstanceOfType(exception))
            {
                return true;
            }
        }

        foreach (Func<Exception, bool> predicate in _predicates)
        {
            if (predicate(exception))
            {
                return true;
            }
        }

        return false;
    }
}
