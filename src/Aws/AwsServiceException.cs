using System.Net;

namespace StreamLanes.Aws;

/// <summary>An error returned by an AWS service (or an emulator of one), classified by <see cref="Kind"/>.</summary>
/// <remarks>
/// Network failures that outlast the transport retries surface as <see cref="HttpRequestException"/>, and an attempt
/// that outlasts <see cref="AwsClientOptions.RequestTimeout"/> on the last try as <see cref="TimeoutException"/>.
/// </remarks>
public sealed class AwsServiceException : Exception
{
    /// <summary>Creates an exception with no details (for serializers and frameworks).</summary>
    public AwsServiceException()
        : this("The AWS service returned an error.")
    {
    }

    /// <summary>Creates an exception with a message and no details.</summary>
    /// <param name="message">The error message.</param>
    public AwsServiceException(string message)
        : this(message, innerException: null)
    {
    }

    /// <summary>Creates an exception with a message and an inner exception, and no details.</summary>
    /// <param name="message">The error message.</param>
    /// <param name="innerException">The cause.</param>
    public AwsServiceException(string message, Exception? innerException)
        : base(message, innerException)
    {
        ErrorCode = string.Empty;
        Service = string.Empty;
        Operation = string.Empty;
    }

    /// <summary>Creates an exception from the parts of a service's error response.</summary>
    /// <param name="kind">The classification of <paramref name="errorCode"/>.</param>
    /// <param name="errorCode">The service's error code without namespace, e.g. <c>ExpiredIteratorException</c>.</param>
    /// <param name="serviceMessage">The service's message, if any.</param>
    /// <param name="statusCode">The HTTP status code.</param>
    /// <param name="service">The service, e.g. <c>Kinesis</c>.</param>
    /// <param name="operation">The operation, e.g. <c>GetRecords</c>.</param>
    /// <param name="requestId">The service's request id, if returned.</param>
    public AwsServiceException(
        AwsErrorKind kind,
        string errorCode,
        string? serviceMessage,
        HttpStatusCode statusCode,
        string service,
        string operation,
        string? requestId)
        : base(FormatMessage(errorCode, serviceMessage, statusCode, service, operation))
    {
        Kind = kind;
        ErrorCode = errorCode;
        ServiceMessage = serviceMessage;
        StatusCode = statusCode;
        Service = service;
        Operation = operation;
        RequestId = requestId;
    }

    /// <summary>The classification of <see cref="ErrorCode"/>.</summary>
    public AwsErrorKind Kind { get; }

    /// <summary>The service's error code without namespace prefix, e.g. <c>ProvisionedThroughputExceededException</c>.</summary>
    public string ErrorCode { get; }

    /// <summary>The message the service returned, if any.</summary>
    public string? ServiceMessage { get; }

    /// <summary>The HTTP status code of the response.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The service that returned the error: <c>Kinesis</c>, <c>DynamoDBStreams</c> or <c>SQS</c>.</summary>
    public string Service { get; }

    /// <summary>The operation that failed, e.g. <c>GetRecords</c>.</summary>
    public string Operation { get; }

    /// <summary>The service's request id, when the response carried one.</summary>
    public string? RequestId { get; }

    /// <summary>Whether the transport retries this kind of error (throttling and service failures).</summary>
    public bool IsRetryable => Kind is AwsErrorKind.Throttling or AwsErrorKind.ServiceUnavailable;

    private static string FormatMessage(string errorCode, string? serviceMessage, HttpStatusCode statusCode, string service, string operation) =>
        string.IsNullOrEmpty(serviceMessage)
            ? $"{service}.{operation} failed with {errorCode} (HTTP {(int)statusCode})."
            : $"{service}.{operation} failed with {errorCode} (HTTP {(int)statusCode}): {serviceMessage}";
}
