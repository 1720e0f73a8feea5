"""Reading an fx call's arguments, shared by the function mappers."""


def arg(node, i, name, default=None):
    """Argument i (or keyword `name`) of a call, else default."""
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def axis(conv, node, d, rank):
    if not isinstance(d, int) or isinstance(d, bool):
        conv.fail(node, f"its dim must be an integer, not {type(d).__name__}")
    if not -rank <= d < rank:
        conv.fail(node, f"dim {d} is out of range for a {rank}-d tensor")
    return d % rank
