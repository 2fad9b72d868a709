from genshare_widgets.cli import main

main()
