// vdevices placeholder
