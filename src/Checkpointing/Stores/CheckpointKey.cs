namespace StreamLanes.Checkpointing;

/// <summary>Identifies one shard's checkpoint: which consumer read which shard of which stream.</summary>
/// <param name="Consumer">The consumer's name.</param>
/// <param name="Stream">The stream (or table stream, or queue) name.</param>
/// <param name="Shard">The shard id.</param>
public readonly record struct CheckpointKey(string Consumer, string Stream, string Shard);
