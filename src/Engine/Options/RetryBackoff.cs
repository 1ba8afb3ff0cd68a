namespace StreamLanes;

/// <summary>How the delay between attempts grows.</summary>
public enum RetryBackoff
{
    /// <summary>The same delay every time.</summary>
    Constant = 0,

    /// <summary>The delay grows by the base delay each time.</summary>
    Linear = 1,

    /// <summary>The delay doubles each time. The default.</summary>
    Exponential = 2,
}
