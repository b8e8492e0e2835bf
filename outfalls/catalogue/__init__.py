"""The catalogue (排污口名录): outfalls and their append-only history (lifecycle), the field records behind them
(observations), the reads of lists, pages and maps (queries) and the state of an outfall as of any day.
"""
