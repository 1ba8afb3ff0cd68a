using System.Collections.Frozen;
using System.Net;
using System.Text.Json;

namespace StreamLanes.Aws;

/// <summary>Turns an AWS JSON-protocol error response into an <see cref="AwsServiceException"/>.</summary>
internal static class AwsErrorClassifier
{
    // Codes are compared without their namespace ("com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist").
    // SQS's legacy query codes (x-amzn-query-error) are listed too, so either form classifies the same way.
    private static readonly FrozenDictionary<string, AwsErrorKind> KnownCodes = new Dictionary<string, AwsErrorKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["ProvisionedThroughputExceededException"] = AwsErrorKind.Throttling,
        ["ThrottlingException"] = AwsErrorKind.Throttling,
        ["Throttling"] = AwsErrorKind.Throttling,
        ["ThrottledException"] = AwsErrorKind.Throttling,
        ["LimitExceededException"] = AwsErrorKind.Throttling,
        ["RequestLimitExceeded"] = AwsErrorKind.Throttling,
        ["TooManyRequestsException"] = AwsErrorKind.Throttling,
        ["RequestThrottled"] = AwsErrorKind.Throttling,
        ["RequestThrottledException"] = AwsErrorKind.Throttling,
        ["KMSThrottlingException"] = AwsErrorKind.Throttling,
        ["KmsThrottled"] = AwsErrorKind.Throttling,
        ["SlowDown"] = AwsErrorKind.Throttling,
        ["OverLimit"] = AwsErrorKind.Throttling,
        ["AWS.SimpleQueueService.RequestThrottled"] = AwsErrorKind.Throttling,

        ["InternalFailure"] = AwsErrorKind.ServiceUnavailable,
        ["InternalFailureException"] = AwsErrorKind.ServiceUnavailable,
        ["InternalServerError"] = AwsErrorKind.ServiceUnavailable,
        ["InternalError"] = AwsErrorKind.ServiceUnavailable,
        ["ServiceUnavailable"] = AwsErrorKind.ServiceUnavailable,
        ["ServiceUnavailableException"] = AwsErrorKind.ServiceUnavailable,

        ["ExpiredIteratorException"] = AwsErrorKind.ExpiredIterator,
        ["TrimmedDataAccessException"] = AwsErrorKind.TrimmedData,

        ["ResourceNotFoundException"] = AwsErrorKind.ResourceNotFound,
        ["QueueDoesNotExist"] = AwsErrorKind.ResourceNotFound,
        ["AWS.SimpleQueueService.NonExistentQueue"] = AwsErrorKind.ResourceNotFound,

        ["AccessDeniedException"] = AwsErrorKind.AccessDenied,
        ["AccessDenied"] = AwsErrorKind.AccessDenied,
        ["UnrecognizedClientException"] = AwsErrorKind.AccessDenied,
        ["InvalidSignatureException"] = AwsErrorKind.AccessDenied,
        ["SignatureDoesNotMatch"] = AwsErrorKind.AccessDenied,
        ["IncompleteSignature"] = AwsErrorKind.AccessDenied,
        ["IncompleteSignatureException"] = AwsErrorKind.AccessDenied,
        ["MissingAuthenticationToken"] = AwsErrorKind.AccessDenied,
        ["MissingAuthenticationTokenException"] = AwsErrorKind.AccessDenied,
        ["InvalidClientTokenId"] = AwsErrorKind.AccessDenied,
        ["ExpiredToken"] = AwsErrorKind.AccessDenied,
        ["ExpiredTokenException"] = AwsErrorKind.AccessDenied,
        ["RequestExpired"] = AwsErrorKind.AccessDenied,
        ["NotAuthorized"] = AwsErrorKind.AccessDenied,
        ["InvalidSecurity"] = AwsErrorKind.AccessDenied,
        ["KMSAccessDeniedException"] = AwsErrorKind.AccessDenied,
        ["KmsAccessDenied"] = AwsErrorKind.AccessDenied,

        ["ValidationException"] = AwsErrorKind.Validation,
        ["InvalidArgumentException"] = AwsErrorKind.Validation,
        ["SerializationException"] = AwsErrorKind.Validation,
        ["ExpiredNextTokenException"] = AwsErrorKind.Validation,
        ["InvalidParameterValue"] = AwsErrorKind.Validation,
        ["InvalidParameterValueException"] = AwsErrorKind.Validation,
        ["InvalidParameterCombination"] = AwsErrorKind.Validation,
        ["MissingParameter"] = AwsErrorKind.Validation,
        ["MissingRequiredParameterException"] = AwsErrorKind.Validation,
        ["InvalidAction"] = AwsErrorKind.Validation,
        ["InvalidAddress"] = AwsErrorKind.Validation,
        ["InvalidAttributeName"] = AwsErrorKind.Validation,
        ["InvalidAttributeValue"] = AwsErrorKind.Validation,
        ["InvalidMessageContents"] = AwsErrorKind.Validation,
        ["InvalidIdFormat"] = AwsErrorKind.Validation,
        ["InvalidBatchEntryId"] = AwsErrorKind.Validation,
        ["BatchEntryIdsNotDistinct"] = AwsErrorKind.Validation,
        ["BatchRequestTooLong"] = AwsErrorKind.Validation,
        ["EmptyBatchRequest"] = AwsErrorKind.Validation,
        ["TooManyEntriesInBatchRequest"] = AwsErrorKind.Validation,
        ["ReceiptHandleIsInvalid"] = AwsErrorKind.Validation,
        ["MessageNotInflight"] = AwsErrorKind.Validation,
        ["UnsupportedOperation"] = AwsErrorKind.Validation,

        ["ResourceInUseException"] = AwsErrorKind.ResourceInUse,
        ["QueueNameExists"] = AwsErrorKind.ResourceInUse,
        ["QueueAlreadyExists"] = AwsErrorKind.ResourceInUse,
        ["QueueDeletedRecently"] = AwsErrorKind.ResourceInUse,
        ["PurgeQueueInProgress"] = AwsErrorKind.ResourceInUse,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>Classifies an error code, falling back on the status code for unknown ones.</summary>
    public static AwsErrorKind Classify(string errorCode, HttpStatusCode statusCode)
    {
        if (KnownCodes.TryGetValue(errorCode, out var kind))
        {
            return kind;
        }

        return (int)statusCode switch
        {
            429 => AwsErrorKind.Throttling,
            >= 500 => AwsErrorKind.ServiceUnavailable,
            401 or 403 => AwsErrorKind.AccessDenied,
            _ => AwsErrorKind.Other,
        };
    }

    /// <summary>
    /// Strips the namespace (before '#') and the trailing documentation link (after ':') that AWS adds to error types:
    /// <c>com.amazonaws.kinesis.v20131202#ExpiredIteratorException</c> and
    /// <c>ValidationException:http://internal.amazon.com/coral/...</c> both become the bare code.
    /// </summary>
    public static string NormalizeCode(string? rawType)
    {
        if (string.IsNullOrWhiteSpace(rawType))
        {
            return string.Empty;
        }

        var code = rawType.Trim();
        var hash = code.LastIndexOf('#');
        if (hash >= 0)
        {
            code = code[(hash + 1)..];
        }

        var colon = code.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            code = code[..colon];
        }

        return code.Trim();
    }

    /// <summary>Builds the exception for a non-success response from its headers and body.</summary>
    public static AwsServiceException FromResponse(
        HttpStatusCode statusCode,
        string? errorTypeHeader,
        string? queryErrorHeader,
        string? requestId,
        ReadOnlySpan<byte> body,
        string service,
        string operation)
    {
        var (bodyType, message) = ParseBody(body);

        // The body's __type is the documented source; the header is the fallback some services and proxies use.
        var code = NormalizeCode(bodyType);
        if (code.Length == 0)
        {
            code = NormalizeCode(errorTypeHeader);
        }

        var kind = code.Length == 0 ? Classify(string.Empty, statusCode) : Classify(code, statusCode);

        // SQS's JSON protocol gives the legacy query code too ("AWS.SimpleQueueService.NonExistentQueue;Sender");
        // it classifies codes the JSON __type may leave generic.
        if (kind == AwsErrorKind.Other && !string.IsNullOrEmpty(queryErrorHeader))
        {
            var queryCode = queryErrorHeader.Split(';', 2)[0].Trim();
            kind = Classify(queryCode, statusCode);
            if (code.Length == 0)
            {
                code = queryCode;
            }
        }

        if (code.Length == 0)
        {
            code = $"Http{(int)statusCode}";
        }

        return new AwsServiceException(kind, code, message, statusCode, service, operation, requestId);
    }

    private static (string? Type, string? Message) ParseBody(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return (null, null);
        }

        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, null);
            }

            string? type = null;
            string? message = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                if (reader.TokenType != JsonTokenType.String)
                {
                    continue;
                }

                // Services differ in casing: Kinesis sends "message", some send "Message" or "errorMessage".
                switch (name)
                {
                    case "__type" or "code" or "Code":
                        type ??= reader.GetString();
                        break;
                    case "message" or "Message" or "errorMessage":
                        message ??= reader.GetString();
                        break;
                }
            }

            return (type, message);
        }
        catch (JsonException)
        {
            // A non-JSON error body (an HTML page from a proxy, say): the status code decides.
            return (null, null);
        }
    }
}
