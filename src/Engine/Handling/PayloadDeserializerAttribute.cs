using System.Reflection;
using System.Text.Json;

namespace StreamLanes;

/// <summary>
/// Names the default deserializer of a handler message type, used when the consumer sets none with
/// <c>UseDeserializer</c>: how a package's message type (e.g. a DynamoDB Streams change) is read without the engine
/// knowing the package. Not inherited: a derived message type declares its own.
/// </summary>
/// <param name="deserializerType">
/// An <see cref="IPayloadDeserializer{TMessage}"/> of the attributed type, with a constructor taking the consumer's
/// <see cref="JsonSerializerOptions"/> (or <see langword="null"/>) or none; an open generic type when the attributed
/// type is generic, closed over the same type arguments.
/// </param>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class PayloadDeserializerAttribute(Type deserializerType) : Attribute
{
    /// <summary>The deserializer's type.</summary>
    public Type DeserializerType { get; } = deserializerType ?? throw new ArgumentNullException(nameof(deserializerType));

    /// <summary>The deserializer <paramref name="messageType"/> declares, or <see langword="null"/> when it declares none.</summary>
    internal static object? Create(Type messageType, JsonSerializerOptions? jsonOptions)
    {
        if (messageType.GetCustomAttribute<PayloadDeserializerAttribute>(inherit: false) is not { } declared)
        {
            return null;
        }

        Type type = declared.DeserializerType.IsGenericTypeDefinition
            ? declared.DeserializerType.MakeGenericType(messageType.GetGenericArguments())
            : declared.DeserializerType;
        return type.GetConstructor(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance, [typeof(JsonSerializerOptions)]) is { } withOptions
            ? withOptions.Invoke([jsonOptions])
            : Activator.CreateInstance(type, nonPublic: true);
    }
}
