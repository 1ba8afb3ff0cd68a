namespace StreamLanes.Aws;

/// <summary>What an AWS error means to the caller, independent of the service that returned it.</summary>
public enum AwsErrorKind
{
    /// <summary>Anything not classified below; not retried by the transport.</summary>
    Other = 0,

    /// <summary>
    /// The caller exceeded a rate or throughput limit (ProvisionedThroughputExceededException, ThrottlingException,
    /// LimitExceededException, RequestLimitExceeded, KMSThrottlingException, RequestThrottled, ...). Retried with back-off.
    /// </summary>
    Throttling,

    /// <summary>The service failed or is unavailable (a 5xx response, InternalFailure, ServiceUnavailable). Retried with back-off.</summary>
    ServiceUnavailable,

    /// <summary>The shard iterator has expired (ExpiredIteratorException): get a new one from the last sequence number.</summary>
    ExpiredIterator,

    /// <summary>
    /// DynamoDB Streams: the iterator points at records already trimmed from the stream (TrimmedDataAccessException).
    /// </summary>
    TrimmedData,

    /// <summary>The stream, shard, table or queue does not exist (ResourceNotFoundException, QueueDoesNotExist).</summary>
    ResourceNotFound,

    /// <summary>
    /// The request was not authenticated or not authorized (AccessDeniedException, UnrecognizedClientException,
    /// InvalidSignatureException, ExpiredTokenException, ...).
    /// </summary>
    AccessDenied,

    /// <summary>The request is invalid (ValidationException, InvalidArgumentException, InvalidParameterValue, ...).</summary>
    Validation,

    /// <summary>The resource is being changed or already exists (ResourceInUseException, QueueNameExists, ...).</summary>
    ResourceInUse,
}
