"""rengo.cli"""
