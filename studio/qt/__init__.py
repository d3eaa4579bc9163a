"""The GUI: the app and main window, the job runner and background tasks,
the theme, one package per workspace (image, text, audio, video), the
widgets they share (shared) and the Models, Queue and Library panels."""
