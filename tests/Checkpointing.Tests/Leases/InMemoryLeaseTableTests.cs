using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Leases;

public sealed class InMemoryLeaseTableTests : LeaseTableContract
{
    internal override Task<ILeaseTable> CreateTableAsync() => Task.FromResult<ILeaseTable>(new InMemoryLeaseTable());
}
