"""The Content Credentials part of Settings: sign on or off, the invisible
watermark on or off, who signs, importing an organisation's certificate
chain and key, or going back to this installation's local certificate.

Keys never pass through settings.json: an import copies the files into the
credentials folder (mode 0600) and Settings keeps only the two switches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.credentials import SETTING_SIGN, SETTING_WATERMARK
from studio.core.credentials import certs
from studio.core.jobs import StudioError
from studio.core.paths import studio_paths
from studio.core.settings import Settings


class CredentialsSection(QWidget):
    def __init__(self, settings: Settings, config: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = Path(config) if config else studio_paths().config
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.sign = QCheckBox("Sign every file with C2PA Content Credentials")
        self.sign.setChecked(bool(settings.get(SETTING_SIGN, True)))
        self.watermark = QCheckBox("Invisible watermark in images of 256 px and more")
        self.watermark.setChecked(bool(settings.get(SETTING_WATERMARK, True)))
        self.identity = QLabel()
        self.identity.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        self.import_button = QPushButton("Import certificate chain and key...")
        self.import_button.clicked.connect(self._ask_import)
        self.local_button = QPushButton("Use a local certificate")
        self.local_button.setToolTip("Forget the imported certificate; a new local one is made on the next signing")
        self.local_button.clicked.connect(self.use_local)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.local_button)
        buttons.addStretch(1)
        for widget in (self.sign, self.watermark, self.identity):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self._refresh()

    def _refresh(self) -> None:
        self.identity.setText("Signer: " + certs.describe(self.config))

    def _ask_import(self) -> None:
        chain, _ = QFileDialog.getOpenFileName(self, "Certificate chain (PEM, signing certificate first)", "",
                                               "PEM files (*.pem *.crt *.cer);;All files (*)")
        if not chain:
            return
        key, _ = QFileDialog.getOpenFileName(self, "Its private key (PEM, unencrypted)", "",
                                             "PEM files (*.pem *.key);;All files (*)")
        if key:
            self.import_files(Path(chain), Path(key))

    def import_files(self, chain: Path, key: Path) -> bool:
        try:
            identity = certs.import_identity(self.config, chain, key)
        except StudioError as exc:  # the messages name files, never their content
            self.status.setText(f"Not imported: {exc}")
            return False
        self.status.setText(f"Imported: files are now signed as {identity.subject}")
        self._refresh()
        return True

    def use_local(self) -> None:
        certs.reset_identity(self.config)
        self.status.setText("A new local certificate will be made on the next signing")
        self._refresh()

    def values(self) -> dict[str, Any]:
        return {SETTING_SIGN: self.sign.isChecked(), SETTING_WATERMARK: self.watermark.isChecked()}
