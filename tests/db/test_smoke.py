from outfalls.models import Outfall


def test_make_outfall_derives_location(make_outfall):
    o: Outfall = make_outfall()
    assert o.basin_id is not None and o.sub_basin_id is not None
    assert o.admin_area_id is not None and o.river_id is not None
