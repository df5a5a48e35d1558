import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
