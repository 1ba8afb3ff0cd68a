using Microsoft.Extensions.DependencyInjection;

namespace StreamLanes;

/// <summary>Deserializes a record and calls the user's handler; the engine's only view of the handler's type.</summary>
internal interface IHandlerInvoker
{
    ValueTask InvokeAsync(StreamRecord record, HandlerContext context);
}

internal sealed class HandlerInvoker<TMessage> : IHandlerInvoker
{
    private readonly IServiceProvider _services;
    private readonly Type _handlerType;
    private readonly IPayloadDeserializer<TMessage> _deserializer;
    private readonly IStreamHandler<TMessage>? _sharedHandler;

    public HandlerInvoker(IServiceProvider services, Type handlerType, IPayloadDeserializer<TMessage> deserializer, bool scopePerRecord)
    {
        _services = services;
        _handlerType = handlerType;
        _deserializer = deserializer;
        if (!scopePerRecord)
        {
            _sharedHandler = (IStreamHandler<TMessage>)ActivatorUtilities.GetServiceOrCreateInstance(services, handlerType);
        }
    }

    public ValueTask InvokeAsync(StreamRecord record, HandlerContext context)
    {
        TMessage message;
        try
        {
            message = _deserializer.Deserialize(record);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException(new PayloadDeserializationException(
                $"The payload of {record} could not be deserialized as {typeof(TMessage).Name}: {ex.Message}", ex));
        }

        if (message is null)
        {
            return ValueTask.FromException(new PayloadDeserializationException(
                $"The payload of {record} deserialized to null; a {typeof(TMessage).Name} was expected."));
        }

        return _sharedHandler is not null ? _sharedHandler.HandleAsync(message, context) : InvokeScopedAsync(message, context);
    }

    private async ValueTask InvokeScopedAsync(TMessage message, HandlerContext context)
    {
        AsyncServiceScope scope = _services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var handler = (IStreamHandler<TMessage>)ActivatorUtilities.GetServiceOrCreateInstance(scope.ServiceProvider, _handlerType);
            await handler.HandleAsync(message, context).ConfigureAwait(false);
        }
    }
}
