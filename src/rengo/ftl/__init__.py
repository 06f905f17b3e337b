"""rengo.ftl"""
