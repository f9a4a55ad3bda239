"""One module per `edgelstm` command; importing a module registers its commands on the app.

`edgelstm.cli.COMMAND_MODULES` names each command's module (in `edgelstm --help`'s order, the pipeline's): the
CLI imports a module when its command is looked up, so this package imports none of them itself.
"""
