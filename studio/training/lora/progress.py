"""What a training job shows on the canvas: its latest sample beside its loss curve.

One RGB picture (numpy), so it travels through the ordinary preview path
of any job and the canvas needs nothing new: the sample (enlarged with
nearest-neighbour so small models' pixels stay honest), the loss curve
(raw in grey, a moving average in blue), and a line of text (step, loss,
time left).
"""

from __future__ import annotations

import numpy as np

PANEL = 256


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"


def smooth(values: list[float], window: int = 20) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return data
    window = max(1, min(window, len(data) // 4 or 1))
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, data[0]), data])
    return np.convolve(padded, kernel, mode="valid")


def loss_plot(losses: list[float], width: int = PANEL, height: int = PANEL) -> np.ndarray:
    import cv2

    plot = np.full((height, width, 3), 250, np.uint8)
    margin = 14
    cv2.rectangle(plot, (margin, margin), (width - margin, height - margin), (200, 200, 200), 1)
    if len(losses) >= 2:
        data = np.asarray(losses, dtype=np.float64)
        lo, hi = float(np.percentile(data, 1)), float(np.percentile(data, 99))
        hi = hi if hi > lo else lo + 1e-6

        def points(series: np.ndarray) -> np.ndarray:
            xs = margin + np.linspace(0, width - 2 * margin, len(series))
            ys = height - margin - (np.clip(series, lo, hi) - lo) / (hi - lo) * (height - 2 * margin)
            return np.stack([xs, ys], axis=1).round().astype(np.int32).reshape(-1, 1, 2)

        cv2.polylines(plot, [points(data)], False, (185, 185, 185), 1, cv2.LINE_AA)
        cv2.polylines(plot, [points(smooth(losses))], False, (40, 90, 210), 2, cv2.LINE_AA)
        cv2.putText(plot, f"{hi:.3f}", (margin + 2, margin + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1)
        cv2.putText(plot, f"{lo:.3f}", (margin + 2, height - margin - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (90, 90, 90), 1)
    cv2.putText(plot, "loss", (width - margin - 30, margin + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (40, 90, 210), 1)
    return plot


def training_view(sample: np.ndarray | None, losses: list[float], line: str) -> np.ndarray:
    """Sample (left) and loss curve (right) above a line of text, as one RGB uint8 picture."""
    import cv2

    if sample is None:
        left = np.full((PANEL, PANEL, 3), 235, np.uint8)
    else:
        h, w = sample.shape[:2]
        scale = PANEL / max(h, w)
        nearest = cv2.INTER_NEAREST if scale >= 2 else cv2.INTER_AREA
        fitted = cv2.resize(sample, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=nearest)
        left = np.full((PANEL, PANEL, 3), 235, np.uint8)
        y0, x0 = (PANEL - fitted.shape[0]) // 2, (PANEL - fitted.shape[1]) // 2
        left[y0:y0 + fitted.shape[0], x0:x0 + fitted.shape[1]] = fitted
    body = np.concatenate([left, loss_plot(losses)], axis=1)
    footer = np.full((24, body.shape[1], 3), 250, np.uint8)
    cv2.putText(footer, line[:80], (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    return np.concatenate([body, footer], axis=0)
