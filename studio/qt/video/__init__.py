"""The Video workspace: the timeline editor and its tracks, media cache,
playback, keyframe tools (Regenerate frame), consistency graph and tools."""
