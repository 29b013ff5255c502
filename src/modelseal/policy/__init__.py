"""Policy as data: rules per environment, waivers and an emergency bypass, evaluated to a verdict."""
