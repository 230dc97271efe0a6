-- up
ALTER TABLE "posts" DROP COLUMN "strata_del_c0201f7ce80f";
-- down
ALTER TABLE "posts" ADD COLUMN "strata_del_c0201f7ce80f" numeric(10,2);
