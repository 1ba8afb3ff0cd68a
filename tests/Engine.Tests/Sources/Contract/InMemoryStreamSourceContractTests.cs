namespace StreamLanes.Engine.Tests.Sources.Contract;

public sealed class InMemoryStreamSourceContractTests : StreamSourceContract
{
    internal override Task<ContractStream> CreateStreamAsync(int shards) => Task.FromResult<ContractStream>(new InMemoryContractStream(new InMemoryStream($"contract-{Guid.NewGuid():N}", shards)));

    private sealed class InMemoryContractStream(InMemoryStream stream) : ContractStream
    {
        private int _index;

        public override string Name => stream.Name;

        public override Task PutAsync(IReadOnlyList<string> keys)
        {
            foreach (string key in keys)
            {
                stream.Put(key, Payload(key, _index++));
            }

            return Task.CompletedTask;
        }

        public override ContractSource CreateSource(string workerId)
        {
            var source = new InMemoryStreamSource(stream);
            return new ContractSource(source, () =>
            {
                source.Dispose();
                return ValueTask.CompletedTask;
            });
        }
    }
}
