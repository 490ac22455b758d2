"""Storyboards: spots of 2-8 shots with a shared style, made in takes, assembled and
delivered in every platform's format.

    model        Storyboard, Shot, EndCardPlan, problems(): what a storyboard is
    library      StoryboardLibrary: one JSON file per storyboard in the data folder
    production   queueing takes, finding and picking them, SpotMaker (assembly, delivery)
"""

from .library import StoryboardLibrary
from .model import EndCardPlan, Shot, Storyboard, problems
from .production import SpotMaker, SpotTask, Take, pick, queue_takes, takes_by_shot

__all__ = ["EndCardPlan", "Shot", "SpotMaker", "SpotTask", "Storyboard", "StoryboardLibrary",
           "Take", "pick", "problems", "queue_takes", "takes_by_shot"]
