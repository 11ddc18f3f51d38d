-- The public name of falcon.drivers.cosocket (README, examples): the SDK itself requires that path.
return require "falcon.drivers.cosocket"
