"""File citations in a hosted answer: a marker in the text for each, as the Assistants API wrote them.

The Responses API cites with a position in the output text (`file_citation`: `file_id`, `filename`,
`index`) and no marker; the Assistants API put a marker (`【4:0†source】`) in the text and annotated
it (`text`, `start_index`, `end_index`, `file_citation: {"file_id"}`). `CitedText` turns the first
into the second while the text streams: a marker goes in at its citation's position when that part
of the text is still to come, else at the end of what has been streamed (streamed text cannot change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A file the answer cites, at `index` in the answer's text (all its output text, joined)."""

    file_id: str
    filename: str
    index: int


# A piece of text to stream, with the annotation (delta shape, with its `index`) it carries, if any.
Piece = tuple[str, dict[str, Any] | None]


@dataclass
class CitedText:
    """The answer's text as streamed (markers included) and its annotations (stored shape)."""

    annotations: list[dict[str, Any]] = field(default_factory=list)
    _model_length: int = 0  # characters of the model's text received
    _length: int = 0  # characters streamed, markers included
    _pending: list[Citation] = field(default_factory=list)  # positions the text has not reached yet

    def text(self, delta: str) -> list[Piece]:
        """The pieces for a text delta: split where a pending citation's marker goes."""
        pieces: list[Piece] = []
        while self._pending and self._pending[0].index <= self._model_length + len(delta):
            citation = self._pending.pop(0)
            cut = max(0, citation.index - self._model_length)
            if cut:
                pieces.append(self._plain(delta[:cut]))
                delta = delta[cut:]
            pieces.append(self._marker(citation))
        if delta:
            pieces.append(self._plain(delta))
        return pieces

    def cite(self, citation: Citation) -> list[Piece]:
        """The marker now when the text has reached the citation's position; else later, with the text."""
        if citation.index <= self._model_length:
            return [self._marker(citation)]
        self._pending.append(citation)
        self._pending.sort(key=lambda pending: pending.index)
        return []

    def finish(self) -> list[Piece]:
        """Markers for citations past the end of the text, at the end."""
        pieces = [self._marker(citation) for citation in self._pending]
        self._pending.clear()
        return pieces

    def _plain(self, text: str) -> Piece:
        self._model_length += len(text)
        self._length += len(text)
        return text, None

    def _marker(self, citation: Citation) -> Piece:
        number = len(self.annotations)
        marker = f"【{number}:0†{citation.filename or 'source'}】"
        annotation = {
            "type": "file_citation",
            "text": marker,
            "start_index": self._length,
            "end_index": self._length + len(marker),
            "file_citation": {"file_id": citation.file_id},
        }
        self.annotations.append(annotation)
        self._length += len(marker)
        return marker, {"index": number, **annotation}
