"""actors/agent"""
