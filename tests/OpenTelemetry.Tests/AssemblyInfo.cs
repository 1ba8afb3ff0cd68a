// Every test's OpenTelemetry pipeline listens to the one "StreamLanes" source: run one at a time, so a pipeline sees
// (and samples) only its own test's records, and a sampler test is not overruled by another test's AlwaysOn listener.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
