"""The Audio workspace: its mode forms, the waveform editor, tracks view,
time ruler and playback transport."""
