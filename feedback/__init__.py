"""Feedback to annotators: "My work", what became of each annotation they submitted (waiting,
approved as is, approved after an edit, rejected, a gold hit or miss), with the reviewer's
note and the final record, their own figures, and changing an answer while its item is open.

A top-layer app: it reads annotation's, review's and agreement's data; nothing imports it."""
