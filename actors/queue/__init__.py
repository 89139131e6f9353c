"""actors/queue"""
