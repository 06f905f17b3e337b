"""rengo.transport"""
