"""``tc form``: the platform's config form (rjsf), served locally from the prebuilt bundle."""
