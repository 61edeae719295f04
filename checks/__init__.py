"""Checklist data, the pure checklist engine and the pure deadline rules."""

from checks.engine import AnswerError, Evaluation, evaluate, next_question, validate_answers
from checks.loader import ChecklistError, load_checklists

__all__ = ["AnswerError", "ChecklistError", "Evaluation", "evaluate", "load_checklists", "next_question",
           "validate_answers"]
