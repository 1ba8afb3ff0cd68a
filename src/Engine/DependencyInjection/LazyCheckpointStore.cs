using StreamLanes.Checkpointing;

namespace StreamLanes;

/// <summary>
/// The default checkpoint store of a source that keeps its own checkpoints: built on first use only, so such a
/// consumer creates no checkpoint directory (a source that declares it keeps its own but asks anyway still works).
/// </summary>
internal sealed class LazyCheckpointStore(Func<ICheckpointStore> create) : ICheckpointStore, IWrappingCheckpointStore, IAsyncDisposable
{
    private readonly Lazy<ICheckpointStore> _store = new(create, LazyThreadSafetyMode.ExecutionAndPublication);

    public ICheckpointStore Inner => _store.Value;

    public ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken)
        => _store.Value.GetAsync(key, cancellationToken);

    public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
        => _store.Value.SaveAsync(key, position, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (!_store.IsValueCreated)
        {
            return;
        }

        switch (_store.Value)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }
}
