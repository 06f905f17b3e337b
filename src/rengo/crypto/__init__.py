"""rengo.crypto"""
