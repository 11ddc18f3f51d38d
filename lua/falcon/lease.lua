-- The public name of falcon.fleet.lease (README, examples): the SDK itself requires that path.
return require "falcon.fleet.lease"
