"""actors/call"""
