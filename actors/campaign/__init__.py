"""actors/campaign"""
