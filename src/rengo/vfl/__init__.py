"""rengo.vfl"""
