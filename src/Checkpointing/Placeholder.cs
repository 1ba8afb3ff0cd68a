namespace StreamLanes.Checkpointing;
