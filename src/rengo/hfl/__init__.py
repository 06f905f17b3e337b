"""rengo.hfl"""
