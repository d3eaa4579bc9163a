"""Renders the main window with real content and saves a screenshot: a few
images made with the pattern test engine (so the Library has items and the
Queue has history), the last one on the Image canvas, and the models that
discovery finds on this machine in the Models panel.

It runs the real window on a temporary STUDIO_HOME. Run it on a display (or
under Xvfb) so the window has a real size and decorations-free geometry:

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python packaging/screenshot.py \
        --out docs/screenshot-main-window.png [--theme light]
"""

from __future__ import annotations

import sys

from screenshot_window import open_window, parse_args, save_and_quit, wait_until

PROMPTS = (
    ("sunrise over quiet dunes, soft light", 1234),
    ("glass marbles on velvet", 77),
    ("a coral reef in pastel colours", 2024),
)


def main() -> int:
    args = parse_args("Save a screenshot of the Studio main window.", "screenshot-main-window.png",
                      lambda parser: parser.add_argument(
                          "--workspace", default="image", help="the tab to show (text, image, audio, video)"))
    # The pictures come from the model-free pattern engine: large and quick.
    app, services, window = open_window(args, settings={"forms.image.kind": "pattern"})

    from PySide6.QtTest import QTest

    image = window.show_workspace("image")
    image.steps.setValue(24)
    image.step_delay.setValue(0.0)
    image.width_spin.setValue(512)
    image.height_spin.setValue(512)
    image.seed_field.random_button.setChecked(False)
    for prompt, seed in PROMPTS:
        image.prompt_edit.setPlainText(prompt)
        image.seed_field.spin.setValue(seed)
        image.generate()

    def ready() -> bool:
        done = not window.runner.running_job_ids() and not any(
            job.state.value in ("queued", "running") for job in services.queue.jobs())
        return (done and window.device is not None and not window.models_panel.discovering
                and image.shown_path != "" and all(window.library_panel.has_thumbnail(i)
                                                    for i in window.library_panel.item_ids()))

    if not wait_until(ready, 60_000):
        print("timed out waiting for the jobs, the device and model discovery", file=sys.stderr)
    # Select the newest library item and the first model so both panels show their details.
    ids = window.library_panel.item_ids()
    if ids:
        window.library_panel.select(ids[0])
    if window.models_panel.row_count():
        window.models_panel.tree.setCurrentItem(window.models_panel.tree.topLevelItem(0))
    window.queue_panel.select(window.queue_panel.job_ids()[-1] if window.queue_panel.job_ids() else 0)
    window.show_workspace(args.workspace)
    QTest.qWait(300)
    return save_and_quit(app, window, args)


if __name__ == "__main__":
    sys.exit(main())
