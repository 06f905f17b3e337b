"""rengo.tracking"""
